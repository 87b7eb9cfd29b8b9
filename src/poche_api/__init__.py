"""poche-api: the backend of « Ma Métropole dans ma poche » (Métropole Rouen Normandie)."""

__version__ = "0.1.0"
