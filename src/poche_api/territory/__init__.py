"""The Métropole's territory: its 71 communes and the point → commune lookup."""
