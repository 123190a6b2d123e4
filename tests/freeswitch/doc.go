// Package freeswitch holds the tests of mod_listen inside a real FreeSWITCH:
// they start the installed FreeSWITCH (FREESWITCH_PREFIX, or the one
// pkg-config knows as freeswitch) once, with a configuration of their own in
// a temporary directory and an RTP port range of its own, load mod_listen.so
// from the build directory (LISTEN_BUILD_DIR or ../../build), place SIP calls
// between two sofia profiles on 127.0.0.1 (and loopback calls) that stream
// to a WebSocket server inside the test, and drive and watch FreeSWITCH
// through its event socket. Without FreeSWITCH the tests skip; with CI set
// and FreeSWITCH installed, a skip is a failure. LISTEN_FS_LOG=path keeps a
// copy of FreeSWITCH's debug log.
//
//	harness_test.go   finding FreeSWITCH, the shared switch (its configuration: fsconfig)
//	esl_test.go       a small event-socket client (api commands, plain events)
//	wsserver_test.go  the recording WebSocket server
//	audio_test.go     WAV files, tone measurement (frequency, level)
//	freeswitch_test.go  loading, the blocking listen and listen_start over loopback calls
//	sip_test.go       the codec × mix × rate matrix over SIP, clips heard by the far end
//	baresip_test.go   a call from baresip, an independent SIP user agent
//	idle_test.go      the voice bot on a parked or sleeping channel (playback without frames)
//	control_test.go   the API, RFC 2833 DTMF and a SIP bridge on live calls
//	load_test.go      100 concurrent calls
package freeswitch
