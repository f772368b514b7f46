/* flourish serve: what the HTTP side (cmd_serve.c) and the JSON API (serve_api.c) share. The
 * API answers with a status and a body; the HTTP side checks the token and the Host header,
 * caps bodies and routes. docs/serve.md documents the API. */
#ifndef FL_CLI_SERVE_H
#define FL_CLI_SERVE_H

#include "flourish.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>

/* The page (engine/cli/serve_page.html), built into the binary (serve_page.c, generated). */
extern const unsigned char cli_serve_page[];
extern const size_t cli_serve_page_len;

/* An answer: HTTP status, content type and body (malloc'd), and for a download the file name
 * that the Content-Disposition header gives. */
typedef struct serve_reply {
  unsigned status;
  const char *type;
  char *body;
  size_t len;
  const char *filename;
} serve_reply;

typedef struct serve_job serve_job;

/* The server's state: the scenario as loaded (without assignments), the limits, and the Monte
 * Carlo jobs with the one worker thread that runs them in turn. */
typedef struct serve_state {
  const char *path;          /* SCENARIO */
  fl_scenario *sc;           /* loaded once; requests work on copies with their assignments */
  int threads;               /* OpenMP threads of a Monte Carlo job (0: the default) */
  size_t max_replications;   /* of one job */
  size_t max_jobs;           /* queued and running at once */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  serve_job *jobs;           /* newest first */
  unsigned long next_id;
  int quit;
  pthread_t worker;
} serve_state;

/* Sets up the jobs and starts the worker (0, or -1 when the thread cannot start). */
int serve_jobs_start(serve_state *s);
/* Cancels every job, stops the worker and frees the jobs. */
void serve_jobs_stop(serve_state *s);

/* The API's answers. body is the request's JSON (may be NULL for GET and DELETE). */
void serve_scenario(serve_state *s, serve_reply *r);
void serve_expect(serve_state *s, const char *body, size_t len, serve_reply *r);
void serve_yaml(serve_state *s, const char *body, size_t len, serve_reply *r);
void serve_run_start(serve_state *s, const char *body, size_t len, serve_reply *r);
void serve_run_get(serve_state *s, const char *id, serve_reply *r);
void serve_run_delete(serve_state *s, const char *id, serve_reply *r);
/* A JSON error {"error": message} with status. */
void serve_error(serve_reply *r, unsigned status, const char *message);

#endif
