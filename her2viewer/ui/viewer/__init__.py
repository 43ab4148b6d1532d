"""The slide viewer: one open slide as a tab (`slide_tab`), its view and tile loading (`slide_view`,
`viewport`, `tile_loader`), overlay layers and their panel, legends, scale bar, overview, display settings,
the slide opener and properties, and the tissue / TMA-grid overlays. Knows nothing of scoring or
annotations; they add layers to it."""
