"""The shipped configuration (YAML): facility types, speeds, OSM reading, departments, pilot."""
