"""Data in: the city registry and pilot roster, the synthetic twin, the yearbook loader.

Everything here ends in a :class:`~cbec.data.panel.CityPanel` (one schema whichever profile).
"""
