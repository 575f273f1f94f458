"""The raster worker: reads Zarr DataCubes, renders PNG tiles and computes raster statistics."""
