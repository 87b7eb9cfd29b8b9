"""Push notifications: devices, preferences, templates, topics, FCM delivery, inbox, campaigns."""
