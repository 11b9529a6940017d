"""ipywidgets panels wiring sliders to the figure builders in adalora_lite.viz."""
