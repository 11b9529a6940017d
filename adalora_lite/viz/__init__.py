"""Plotly figure builders: state in, figure out, no widgets."""
