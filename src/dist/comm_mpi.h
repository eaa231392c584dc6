/* comm_mpi.h — the Open MPI communicator (src/dist/comm_mpi.c, linked into the lowp program only). */
#ifndef LP_DIST_MPI_H
#define LP_DIST_MPI_H

#include "base/status.h"

/* 1 when mpirun started this process (OMPI_COMM_WORLD_SIZE is set). */
int lp_mpi_launched(void);
/* Under mpirun: initialises MPI and fills *out with MPI_COMM_WORLD's rank, size and
 * collectives. Otherwise *out is the one-process communicator (size 1, no collectives) and
 * MPI is not touched. */
lp_status lp_mpi_start(int *argc, char ***argv, lowp_comm *out);
/* Stops every rank (after a fatal error on this one); nothing when MPI was not started. */
void lp_mpi_abort(int code);
void lp_mpi_finish(void);

#endif
