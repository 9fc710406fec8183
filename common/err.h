/*
 * err.h - the one error type: why something failed, in one line, kept in
 * an object the caller owns and set by one setter.
 *
 * hiredis keeps a context's error in the context (c->err, c->errstr) and
 * sets it in one place.  Here the object is a struct err that the caller
 * declares and hands down: a function that fails returns -1 or NULL and
 * leaves its sentence in it, with err_set(), the only writer.  Callers
 * that do not want the text pass NULL.
 *
 * The sentence is English, names what failed (a file, a Redis endpoint
 * and command, a configuration value) and holds no secret; whoever logs
 * it adds where (a queue id, "reload:", a file and line).  It is cut,
 * never overflowed, at ERR_MSG_MAX - 1 bytes.
 */
#ifndef MSSANTE_ERR_H
#define MSSANTE_ERR_H

#define ERR_MSG_MAX 1024

struct err {
    char msg[ERR_MSG_MAX];       /* "" until something failed */
};

/* Set E's sentence printf-style; the arguments may include E's own
 * sentence, to add to it.  Does nothing when E is NULL. */
void err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forget E's sentence ("" again). */
void err_clear(struct err *e);

/* E's sentence, or "" for NULL or a cleared error. */
const char *err_msg(const struct err *e);

#endif
