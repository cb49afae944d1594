"""Outputs over stored results: the public JSON shapes, exports, the situation report, statistics and maps."""
