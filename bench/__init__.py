"""One command per benchmark (`make bench`); a package so the suite can import their parts (tests/)."""
