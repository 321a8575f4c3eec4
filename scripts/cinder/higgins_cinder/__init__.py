"""Higgins' own Cinder volume driver (driver.SparseFileDriver), loaded by cinder-volume."""
