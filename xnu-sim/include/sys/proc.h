/* xnu-sim look-alike of <sys/proc.h>: the calling task's pid and name. */
#ifndef XNU_SIM_SYS_PROC_H
#define XNU_SIM_SYS_PROC_H

#ifdef __cplusplus
extern "C" {
#endif
int proc_selfpid(void);
void proc_selfname(char *buf, int size);
#ifdef __cplusplus
}
#endif

#endif
