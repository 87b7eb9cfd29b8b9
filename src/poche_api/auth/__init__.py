"""Who is calling: dependency aliases every router uses."""
