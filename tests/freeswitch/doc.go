// Package freeswitch holds the integration test of mod_listen inside a real
// FreeSWITCH: it starts the installed FreeSWITCH (FREESWITCH_PREFIX, or the
// one pkg-config knows as freeswitch) with a configuration of its own in a
// temporary directory, loads mod_listen.so from the build directory
// (LISTEN_BUILD_DIR or ../../build), places loopback calls that stream to a
// WebSocket server inside the test, and drives and watches FreeSWITCH through
// its event socket. Without FreeSWITCH the test is skipped. LISTEN_FS_LOG=path
// keeps a copy of FreeSWITCH's debug log.
//
//	harness_test.go   finding FreeSWITCH, its configuration, starting and stopping it
//	esl_test.go       a small event-socket client (api commands, plain events)
//	wsserver_test.go  the recording WebSocket server
//	audio_test.go     WAV reading and tone measurement
package freeswitch
