/*
 * stage.h - what the pipeline's core and stages share (internal to
 * pipeline/): how a queue id and text from the network go into a log line
 * (defined with the verdict line, in pipeline/verdict_log.c).
 */
#ifndef MSSANTE_PIPELINE_STAGE_H
#define MSSANTE_PIPELINE_STAGE_H

#include <stddef.h>

/* QID, or "NOQUEUE" before Postfix assigned one. */
const char *pl_qid(const char *qid);

/* Copy text from the network into a log field: no spaces, quotes or
 * control characters, so that the line stays "key=value" parseable. */
void pl_log_field(char *dst, size_t size, const char *src);

/* TEXT for the log with every address in PATIENT_DOMAIN shown as
 * LogPatientId says (common/logid.h): a patient's identifier is health
 * data. */
void pl_log_patients(char *dst, size_t size, const char *text, const char *patient_domain);

#endif
