module github.com/modlisten/mod_listen

go 1.26.8

require github.com/gorilla/websocket v1.5.3

require github.com/smallnest/ringbuffer v0.2.1
