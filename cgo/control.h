/*
 * control.h: the lanes on which the engine serves the host's control calls
 * (abi.c), each served by a thread of the engine's.
 */
#ifndef LISTEN_CONTROL_H
#define LISTEN_CONTROL_H

enum {
	LR_LANE_STREAMS, /* the calls about one stream: quick, so a start never waits long */
	LR_LANE_ENGINE,  /* engine-wide calls, some slow */
	LR_LANES
};

/* Called once by the engine before its control goroutines start serving. */
void lr_ctl_open(void);
/* Serves the lane's calls for ever, on the calling thread. */
void lr_ctl_serve(int lane);

#endif
