/* One PAM transaction for one login, in the order greetd and GDM use: authenticate, account
 * check, credentials, session. The caller runs each step off the event loop (PAM modules block). */
#ifndef WD_PAM_SESSION_H
#define WD_PAM_SESSION_H

#include <stddef.h>

typedef struct wd_pam wd_pam;

/* Starts a transaction for `user` of `service`; the password is copied and wiped once used.
 * rhost and tty may be NULL. NULL on failure with a reason in err. */
wd_pam *wd_pam_start(const char *service, const char *user, const char *password, const char *rhost, const char *tty, char *err, size_t errlen);
/* pam_authenticate; returns a PAM status code. */
int wd_pam_authenticate(wd_pam *p);
/* The user as PAM knows them after authenticating (PAM_USER: a module may have mapped the name
 * typed to the account's own); owned by p. */
const char *wd_pam_user(wd_pam *p);
/* pam_acct_mgmt; PAM_NEW_AUTHTOK_REQD, PAM_ACCT_EXPIRED, PAM_PERM_DENIED, ... */
int wd_pam_account(wd_pam *p);
/* pam_chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK) after pam_acct_mgmt said PAM_NEW_AUTHTOK_REQD:
 * hidden prompts get the old password where they ask for the current one, else the new one;
 * both are wiped after. What the modules said (e.g. why a new password is refused) replaces
 * the messages. */
int wd_pam_change_password(wd_pam *p, const char *old_password, const char *new_password);
/* What the modules said (PAM_ERROR_MSG and PAM_TEXT_INFO), newline-separated; owned by p. */
const char *wd_pam_messages(wd_pam *p);
const char *wd_pam_strerror(wd_pam *p, int code);
/* pam_end; frees p. */
int wd_pam_end(wd_pam *p);

#endif
