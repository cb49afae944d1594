"""Reference data every stage reads: the gazetteer (places and regions), the facility
registry, the sources book and the agreement terms. Loaded once per process."""
