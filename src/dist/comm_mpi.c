/* comm_mpi.c — the lowp_comm over Open MPI, and the only file that includes mpi.h. It is linked
 * into the lowp program, not into liblowp (which stays free of MPI: docs/distributed.md).
 * MPI is initialised only when mpirun launched this process (OMPI_COMM_WORLD_SIZE set), so a
 * plain `lowp ...` does not start MPI's runtime. Transport failures abort the whole run with
 * a message: MPI cannot recover a collective a peer left. */
#include "dist/comm_mpi.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

static int started;

/* The communicator a lowp_comm stands for: its user is NULL for MPI_COMM_WORLD, else a
 * malloc'ed MPI_Comm made by split. */
static MPI_Comm of(void *user) { return user ? *(MPI_Comm *)user : MPI_COMM_WORLD; }

static lp_status mpi_failed(const char *what, int code)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, msg, &len);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    fprintf(stderr, "lowp: rank %d: MPI %s failed: %.*s; stopping every rank\n", rank, what, len, msg);
    MPI_Abort(MPI_COMM_WORLD, 2);
    return lp_error(LOWP_ERR_IO, "MPI %s failed: %.*s", what, len, msg);
}

static lp_status gather(void *user, const void *buf, size_t n, int root, void **all_out, size_t *sizes_out)
{
    MPI_Comm c = of(user);
    int rank, size, rc;
    MPI_Comm_rank(c, &rank);
    MPI_Comm_size(c, &size);
    if (n > INT_MAX)
        return mpi_failed("gather", MPI_ERR_COUNT);
    unsigned long long mine = n, *all_n = NULL;
    int *counts = NULL, *displs = NULL;
    char *all = NULL;
    if (rank == root) {
        all_n = calloc((size_t)size, sizeof *all_n);
        counts = calloc((size_t)size, sizeof *counts);
        displs = calloc((size_t)size, sizeof *displs);
        if (!all_n || !counts || !displs)
            return mpi_failed("gather (out of memory)", MPI_ERR_NO_MEM);
    }
    if ((rc = MPI_Gather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all_n, 1, MPI_UNSIGNED_LONG_LONG, root, c)) !=
        MPI_SUCCESS)
        return mpi_failed("gather", rc);
    if (rank == root) {
        unsigned long long total = 0;
        for (int r = 0; r < size; r++) {
            if (total + all_n[r] > INT_MAX)
                return mpi_failed("gather (over 2 GB)", MPI_ERR_COUNT);
            counts[r] = (int)all_n[r];
            displs[r] = (int)total;
            sizes_out[r] = (size_t)all_n[r];
            total += all_n[r];
        }
        if (!(all = malloc(total ? total : 1)))
            return mpi_failed("gather (out of memory)", MPI_ERR_NO_MEM);
    }
    rc = MPI_Gatherv(buf, (int)n, MPI_BYTE, all, counts, displs, MPI_BYTE, root, c);
    free(all_n);
    free(counts);
    free(displs);
    if (rc != MPI_SUCCESS)
        return mpi_failed("gather", rc);
    if (rank == root)
        *all_out = all;
    return LP_OK;
}

static lp_status bcast(void *user, void **buf, size_t *n, int root)
{
    MPI_Comm c = of(user);
    int rank, rc;
    MPI_Comm_rank(c, &rank);
    unsigned long long len = rank == root ? *n : 0;
    if ((rc = MPI_Bcast(&len, 1, MPI_UNSIGNED_LONG_LONG, root, c)) != MPI_SUCCESS)
        return mpi_failed("broadcast", rc);
    if (len > INT_MAX)
        return mpi_failed("broadcast (over 2 GB)", MPI_ERR_COUNT);
    void *data = rank == root ? *buf : malloc(len ? len : 1);
    if (!data)
        return mpi_failed("broadcast (out of memory)", MPI_ERR_NO_MEM);
    if ((rc = MPI_Bcast(data, (int)len, MPI_BYTE, root, c)) != MPI_SUCCESS)
        return mpi_failed("broadcast", rc);
    if (rank != root)
        *buf = data, *n = (size_t)len;
    return LP_OK;
}

static void release(void *user)
{
    if (user) {
        MPI_Comm_free((MPI_Comm *)user);
        free(user);
    }
}

/* The ranks of the same color, in rank order (MPI_Comm_split). */
static lp_status split(void *user, int color, lowp_comm *out)
{
    MPI_Comm parent = of(user), *sub = malloc(sizeof *sub);
    int rank, rc;
    MPI_Comm_rank(parent, &rank);
    if (!sub)
        return mpi_failed("split (out of memory)", MPI_ERR_NO_MEM);
    if ((rc = MPI_Comm_split(parent, color, rank, sub)) != MPI_SUCCESS)
        return mpi_failed("split", rc);
    MPI_Comm_set_errhandler(*sub, MPI_ERRORS_RETURN);
    memset(out, 0, sizeof *out);
    MPI_Comm_rank(*sub, &out->rank);
    MPI_Comm_size(*sub, &out->size);
    out->gather = gather;
    out->bcast = bcast;
    out->split = split;
    out->release = release;
    out->user = sub;
    return LP_OK;
}

int lp_mpi_launched(void)
{
    const char *s = getenv("OMPI_COMM_WORLD_SIZE");
    return s && *s;
}

lp_status lp_mpi_start(int *argc, char ***argv, lowp_comm *out)
{
    memset(out, 0, sizeof *out);
    out->size = 1;
    if (!lp_mpi_launched())
        return LP_OK;
    int provided = 0, rc;
    /* FUNNELED: only the main thread calls MPI; the engine's OpenMP threads never do */
    if ((rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
        return lp_error(LOWP_ERR_IO, "MPI_Init failed (code %d): is this process started by mpirun?", rc);
    started = 1;
    /* errors come back as codes, so that mpi_failed can say what failed before aborting */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &out->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &out->size);
    out->gather = gather;
    out->bcast = bcast;
    out->split = split;
    return LP_OK;
}

void lp_mpi_abort(int code)
{
    if (started)
        MPI_Abort(MPI_COMM_WORLD, code);
}

void lp_mpi_finish(void)
{
    if (started) {
        MPI_Finalize();
        started = 0;
    }
}
