"""HER2 Viewer: view HER2 IHC slides, score them in the background, review, annotate, report.

Research use only. Not a medical device.
"""

__version__ = "0.1.0"
