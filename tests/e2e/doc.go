// Package e2e holds the end-to-end tests of mod_listen: they run the real
// liblisten.so under the switchsim host (both from the build directory,
// LISTEN_BUILD_DIR or ../../build) against an in-process WebSocket server,
// and check what arrives on the wire.
//
// The helpers live in *_test.go files so that they are built only for tests:
//
//	harness_test.go   build directory, running switchsim, parsing its output
//	wsserver_test.go  the programmable, recording WebSocket server
//	signal_test.go    WAV generation and signal analysis (frequency, level)
package e2e
