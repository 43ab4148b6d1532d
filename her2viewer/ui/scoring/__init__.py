"""Scoring in the viewer: the dock's controls and controller, the inference engine and its child process,
the score / heatmap / measurements panels, a result's overlay layers and the calibration dialog."""
