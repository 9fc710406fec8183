/*
 * stage.h - what the pipeline's core and stages share (internal to
 * pipeline/): how a queue id and text from the network go into a log line.
 */
#ifndef MSSANTE_PIPELINE_STAGE_H
#define MSSANTE_PIPELINE_STAGE_H

#include <stddef.h>

/* QID, or "NOQUEUE" before Postfix assigned one. */
const char *pl_qid(const char *qid);

/* Copy text from the network into a log field: no spaces, quotes or
 * control characters, so that the line stays "key=value" parseable. */
void pl_log_field(char *dst, size_t size, const char *src);

#endif
