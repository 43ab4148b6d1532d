"""PDF report of a scored slide: `report.pdf.write_report`, case and review fields in `report.model`."""
