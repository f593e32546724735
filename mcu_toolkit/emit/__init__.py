"""Generate the C side of a bundle: model array, op resolver, config header, reports."""
