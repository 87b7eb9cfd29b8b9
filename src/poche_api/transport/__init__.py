"""Real-time transport on the Astuce network: GTFS timetable, GTFS-RT, alerts, follows."""
