"""Outputs: the table formatter, figure style and figures, spec stamps, saving and glueing."""
