"""The thin HTTP gateway: each route parses its parameters and calls one published SQL function."""
