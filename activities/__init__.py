"""One module per external system. Each class holds its clients; blocking calls run in threads."""
