"""BAGLS reading, synthetic BAGLS-format data, preprocessing to HDF5 and loading folds."""
