"""BAGLS reading, synthetic BAGLS-format data, frame lists, preprocessing to HDF5 and loading folds."""
