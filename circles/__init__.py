"""circles: which everyday facilities can residents not reach on foot in 5, 10 or 15 minutes?

The package reads like the pipeline:

- :mod:`circles.load`       inputs in, validated (:mod:`circles.osm` reads OSM XML)
- :mod:`circles.network`    the walking network
- :mod:`circles.residents`  resident points carrying population
- :mod:`circles.reach`      exact along-street distances (the fast core); :mod:`circles.access` wraps it
- :mod:`circles.rulebook`   the standard as data
- :mod:`circles.gaps`       the gap report
- :mod:`circles.isochrones`, :mod:`circles.mapping`, :mod:`circles.export`   outputs
- :mod:`circles.pipeline`   everything in one call; :mod:`circles.cli` the command line
"""

__version__ = "0.1.0"
