module github.com/modlisten/mod_listen

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3
	github.com/hraban/opus v0.0.0-20260708213942-bde8e4304501
	github.com/smallnest/ringbuffer v0.2.1
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
)
