#define _GNU_SOURCE
#include "pam_session.h"

#include <security/pam_appl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wd_pam {
	pam_handle_t *h;
	char *password;
	/* while changing an expired password: the old one (for a "current password" prompt) and the new one */
	char *old_password;
	char *new_password;
	int prompts;
	int last;
	char messages[1024];
	size_t mlen;
};

static void note(wd_pam *p, const char *msg) {
	if (!msg) return;
	int n = snprintf(p->messages + p->mlen, sizeof(p->messages) - p->mlen, "%s%s", p->mlen ? "\n" : "", msg);
	if (n > 0) p->mlen += (size_t)n < sizeof(p->messages) - p->mlen ? (size_t)n : sizeof(p->messages) - p->mlen - 1;
}

static void wipe_one(char **s) {
	if (!*s) return;
	explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

static void wipe(wd_pam *p) {
	wipe_one(&p->password);
	wipe_one(&p->old_password);
	wipe_one(&p->new_password);
}

/* pam_unix asks "Current password:", "New password:", "Retype new password:"; other modules
 * word it their own way. A prompt that names the current or old password gets the old one;
 * every other hidden prompt the new one. A module asking more than this is refused. */
#define WD_PAM_MAX_CHANGE_PROMPTS 6

static const char *change_answer(wd_pam *p, const char *prompt) {
	if (++p->prompts > WD_PAM_MAX_CHANGE_PROMPTS) return NULL;
	if (prompt && (strcasestr(prompt, "current") || strcasestr(prompt, "old"))) return p->old_password;
	return p->new_password;
}

/* Answers a hidden prompt with the password (once) and refuses anything it cannot answer: a
 * module that asks for more than a password (a new one, a token code) fails here, and the
 * daemon says why instead of hanging in a conversation nobody sees. */
static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data) {
	wd_pam *p = data;
	if (n <= 0 || n > PAM_MAX_NUM_MSG) return PAM_CONV_ERR;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	if (!r) return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			if (p->new_password) {
				const char *a = change_answer(p, msg[i]->msg);
				if (!a || !(r[i].resp = strdup(a))) goto fail;
				break;
			}
			if (!p->password) goto fail;
			r[i].resp = strdup(p->password);
			wipe(p);
			if (!r[i].resp) goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			note(p, msg[i]->msg);
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++) {
		if (r[i].resp) {
			explicit_bzero(r[i].resp, strlen(r[i].resp));
			free(r[i].resp);
		}
	}
	free(r);
	return PAM_CONV_ERR;
}

wd_pam *wd_pam_start(const char *service, const char *user, const char *password, const char *rhost, const char *tty, char *err, size_t errlen) {
	wd_pam *p = calloc(1, sizeof(*p));
	if (!p || !(p->password = strdup(password))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	struct pam_conv conv = {converse, p};
	int rc = pam_start(service, user, &conv, &p->h);
	if (rc != PAM_SUCCESS) {
		snprintf(err, errlen, "pam_start(%s): %s", service, pam_strerror(p->h, rc));
		wipe(p);
		free(p);
		return NULL;
	}
	if (rhost) pam_set_item(p->h, PAM_RHOST, rhost);
	if (tty) pam_set_item(p->h, PAM_TTY, tty);
	return p;
}

int wd_pam_authenticate(wd_pam *p) {
	p->last = pam_authenticate(p->h, PAM_DISALLOW_NULL_AUTHTOK);
	wipe(p);
	return p->last;
}

const char *wd_pam_user(wd_pam *p) {
	const void *u = NULL;
	if (pam_get_item(p->h, PAM_USER, &u) != PAM_SUCCESS || !u) return "";
	return u;
}

int wd_pam_account(wd_pam *p) {
	return p->last = pam_acct_mgmt(p->h, PAM_DISALLOW_NULL_AUTHTOK);
}

int wd_pam_change_password(wd_pam *p, const char *old_password, const char *new_password) {
	wipe(p);
	p->old_password = strdup(old_password);
	p->new_password = strdup(new_password);
	p->prompts = 0;
	p->mlen = 0;
	p->messages[0] = 0;
	if (!p->old_password || !p->new_password) {
		wipe(p);
		return p->last = PAM_BUF_ERR;
	}
	p->last = pam_chauthtok(p->h, PAM_CHANGE_EXPIRED_AUTHTOK);
	wipe(p);
	return p->last;
}

const char *wd_pam_messages(wd_pam *p) {
	return p->messages;
}

const char *wd_pam_strerror(wd_pam *p, int code) {
	return pam_strerror(p->h, code);
}

int wd_pam_end(wd_pam *p) {
	int rc = p->last;
	pam_end(p->h, rc);
	wipe(p);
	free(p);
	return rc;
}
