module github.com/modlisten/mod_listen

go 1.26.8

require github.com/gorilla/websocket v1.5.3

require github.com/hraban/opus v0.0.0-20260708213942-bde8e4304501
