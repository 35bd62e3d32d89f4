"""The command-line programs of the collection, importable as ``aevb.examples.NAME`` (each has ``main(argv)``)."""
