#include "bluefog/core/mpi_transport.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bluefog/core/logging.h"

// CMake's BLUEFOG_MPI option picks the implementation; a stale cache or an
// explicit MPI_C_COMPILER could still hand us the other one's mpi.h.
#if defined(BLUEFOG_MPI_MPICH) && !defined(MPICH_VERSION)
#error "BLUEFOG_MPI=mpich, but this mpi.h is not MPICH's (check MPI_C_COMPILER)"
#endif
#if defined(BLUEFOG_MPI_OPENMPI) && !defined(OPEN_MPI)
#error "BLUEFOG_MPI=openmpi, but this mpi.h is not Open MPI's (check MPI_C_COMPILER)"
#endif

namespace bluefog {
namespace {

constexpr int kHeaderTag = 1;
constexpr int kFirstPayloadTag = 16;
constexpr size_t kChunkBytes = size_t(1) << 30;  // MPI counts are int

std::string MpiErrorString(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, length);
}

size_t ChunkCount(size_t bytes) {
  return std::max<size_t>(1, (bytes + kChunkBytes - 1) / kChunkBytes);
}

const char* ThreadLevelName(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    default: return "MPI_THREAD_MULTIPLE";
  }
}

// The job size the launcher announced, or 0: Open MPI's mpirun sets
// OMPI_COMM_WORLD_SIZE, MPICH's hydra (and Slurm's PMI) PMI_SIZE.
int LauncherSize() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* value = std::getenv(name);
    if (value != nullptr) return std::atoi(value);
  }
  return 0;
}

// Collective, before anything that depends on the value: ranks emulating
// different machines would otherwise take different paths here and hang.
Status CheckSameNodesPerMachine(MPI_Comm comm, int size, int mine) {
  std::vector<int> values(size);
  MPI_Allgather(&mine, 1, MPI_INT, values.data(), 1, MPI_INT, comm);
  if (std::all_of(values.begin(), values.end(), [&](int v) { return v == values[0]; }))
    return Status::Ok();
  std::vector<int> order;  // distinct values, by their first rank
  for (int v : values)
    if (std::find(order.begin(), order.end(), v) == order.end()) order.push_back(v);
  std::string found;
  for (int v : order) {
    std::string ranks;
    for (int r = 0; r < size; ++r)
      if (values[r] == v) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
    found += (found.empty() ? "" : "; ") + (v > 0 ? std::to_string(v) : std::string("unset")) +
             " on ranks [" + ranks + "]";
  }
  return Status::Mismatch("init: BLUEFOG_NODES_PER_MACHINE differs between ranks (" + found +
                         "); set the same value on every rank");
}

#ifdef MPICH_VERSION
constexpr const char* kLauncherHint = "MPICH's, e.g. bfrun --mpirun mpiexec.mpich";
#else
constexpr const char* kLauncherHint = "its mpirun, e.g. bfrun --mpirun mpirun.openmpi";
#endif

std::string MpiLibraryName() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string name(text, length);
  name = name.substr(0, name.find_first_of(",\n"));
  std::replace(name.begin(), name.end(), '\t', ' ');  // MPICH: "Version:\t4.0.2"
  return name;
}

}  // namespace

struct MpiTransport::Impl {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owns_mpi = false;
  int tag_ub = 32767;
  std::vector<int> next_tag;
  std::vector<std::vector<MPI_Request>> slots;
  std::vector<RequestId> free_slots;

  RequestId NewSlot() {
    if (!free_slots.empty()) {
      RequestId id = free_slots.back();
      free_slots.pop_back();
      return id;
    }
    slots.emplace_back();
    return static_cast<RequestId>(slots.size() - 1);
  }
  void FreeSlot(RequestId id) {
    slots[id].clear();
    free_slots.push_back(id);
  }
  template <typename Post>
  RequestId PostChunked(void* data, size_t bytes, int tag, Post post) {
    RequestId id = NewSlot();
    size_t chunks = ChunkCount(bytes);
    for (size_t c = 0; c < chunks; ++c) {
      size_t offset = c * kChunkBytes;
      size_t n = std::min(kChunkBytes, bytes - std::min(bytes, offset));
      MPI_Request request;
      post(static_cast<char*>(data) + offset, static_cast<int>(n),
           tag + static_cast<int>(c), &request);
      slots[id].push_back(request);
    }
    return id;
  }
};

MpiTransport::MpiTransport() : impl_(new Impl) {}
MpiTransport::~MpiTransport() = default;

Status MpiTransport::Init(const Config& config, WorldInfo* world) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  int provided = 0;
  if (!initialized) {
    if (MPI_Init_thread(nullptr, nullptr, config.mpi_thread_level,
                        &provided) != MPI_SUCCESS)
      return Status::Internal("MPI_Init_thread failed");
    impl_->owns_mpi = true;
  } else {
    MPI_Query_thread(&provided);
    // Our engine thread is not the thread that initialised MPI.
    if (provided < MPI_THREAD_SERIALIZED)
      return Status::Internal(
          std::string("MPI was initialised before bluefog with ") +
          ThreadLevelName(provided) +
          "; bluefog's engine thread needs MPI_THREAD_SERIALIZED or higher");
  }
  world->mpi_threads_supported = provided >= MPI_THREAD_MULTIPLE;

  MPI_Comm& comm = impl_->comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &world->rank);
  MPI_Comm_size(comm, &world->size);
  int size = world->size;
  // A launcher of another MPI implementation starts every process as a job
  // of its own, which would otherwise train alone without any error.
  int launched = LauncherSize();
  if (size == 1 && launched > 1)
    return Status::Invalid(
        "the launcher started " + std::to_string(launched) +
        " processes, but MPI sees a job of size 1: the launcher belongs to "
        "another MPI implementation than the one bluefog was built with (" +
        MpiLibraryName() + "); launch with " + kLauncherHint);
  void* tag_ub = nullptr;
  int flag = 0;
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &tag_ub, &flag);
  if (flag) impl_->tag_ub = *static_cast<int*>(tag_ub);
  impl_->next_tag.assign(size, kFirstPayloadTag);

  Status agreed = CheckSameNodesPerMachine(comm, size, config.nodes_per_machine);
  if (!agreed.ok()) return agreed;
  if (config.nodes_per_machine > 0) {
    int npm = config.nodes_per_machine;
    if (size % npm != 0)
      return Status::Invalid("BLUEFOG_NODES_PER_MACHINE=" +
                             std::to_string(npm) +
                             " does not divide the number of ranks " +
                             std::to_string(size));
    world->local_size = npm;
    world->local_rank = world->rank % npm;
    world->local_ranks.clear();
    for (int r = world->rank - world->local_rank; r < world->rank - world->local_rank + npm; ++r)
      world->local_ranks.push_back(r);
  } else {
    MPI_Comm local;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, world->rank,
                        MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &world->local_rank);
    MPI_Comm_size(local, &world->local_size);
    world->local_ranks.resize(world->local_size);
    MPI_Allgather(&world->rank, 1, MPI_INT, world->local_ranks.data(), 1,
                  MPI_INT, local);
    MPI_Comm_free(&local);
  }
  std::vector<int> local_sizes(size);
  MPI_Allgather(&world->local_size, 1, MPI_INT, local_sizes.data(), 1,
                MPI_INT, comm);
  world->homogeneous =
      std::all_of(local_sizes.begin(), local_sizes.end(),
                  [&](int s) { return s == local_sizes[0]; });

  struct Identity {
    int pid;
    char host[128];
  } me{};
  me.pid = static_cast<int>(getpid());
  gethostname(me.host, sizeof(me.host) - 1);
  std::vector<Identity> all(size);
  MPI_Allgather(&me, sizeof(Identity), MPI_BYTE, all.data(), sizeof(Identity),
                MPI_BYTE, comm);
  pids_.resize(size);
  hosts_.resize(size);
  same_host_.resize(size);
  for (int r = 0; r < size; ++r) {
    pids_[r] = all[r].pid;
    hosts_[r] = std::string(all[r].host, strnlen(all[r].host, sizeof(all[r].host)));
    same_host_[r] = std::strncmp(all[r].host, me.host, sizeof(me.host)) == 0;
  }

  MPI_Win window;
  void* base = nullptr;
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  if (MPI_Win_allocate(8, 1, MPI_INFO_NULL, comm, &base, &window) ==
      MPI_SUCCESS) {
    int* model = nullptr;
    MPI_Win_get_attr(window, MPI_WIN_MODEL, &model, &flag);
    world->unified_window_model = flag && *model == MPI_WIN_UNIFIED;
    MPI_Win_free(&window);
  }
  return Status::Ok();
}

void MpiTransport::Finalize() {
  if (!impl_->owns_mpi) return;
  if (impl_->comm != MPI_COMM_NULL) MPI_Comm_free(&impl_->comm);
  MPI_Finalize();
}

MpiTransport::RequestId MpiTransport::SendHeader(int dst,
                                                 const std::vector<char>& bytes) {
  RequestId id = impl_->NewSlot();
  MPI_Request request;
  MPI_Isend(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dst,
            kHeaderTag, impl_->comm, &request);
  impl_->slots[id].push_back(request);
  return id;
}

MpiTransport::RequestId MpiTransport::SendPayload(int dst, int tag,
                                                  const void* data,
                                                  size_t bytes) {
  MPI_Comm comm = impl_->comm;
  return impl_->PostChunked(
      const_cast<void*>(data), bytes, tag,
      [&](char* p, int n, int t, MPI_Request* r) {
        MPI_Isend(p, n, MPI_BYTE, dst, t, comm, r);
      });
}

MpiTransport::RequestId MpiTransport::ReceivePayload(int src, int tag,
                                                     void* data,
                                                     size_t bytes) {
  MPI_Comm comm = impl_->comm;
  return impl_->PostChunked(data, bytes, tag,
                            [&](char* p, int n, int t, MPI_Request* r) {
                              MPI_Irecv(p, n, MPI_BYTE, src, t, comm, r);
                            });
}

int MpiTransport::ReservePayloadTag(int dst, size_t bytes) {
  int chunks = static_cast<int>(ChunkCount(bytes));
  int& next = impl_->next_tag[dst];
  if (next > impl_->tag_ub - chunks) next = kFirstPayloadTag;
  int tag = next;
  next += chunks;
  return tag;
}

bool MpiTransport::Test(RequestId id, std::string* error) {
  auto& requests = impl_->slots[id];
  int done = 0;
  int rc = MPI_Testall(static_cast<int>(requests.size()), requests.data(),
                       &done, MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS) {
    *error = MpiErrorString(rc);
    impl_->FreeSlot(id);
    return true;
  }
  if (done) impl_->FreeSlot(id);
  return done != 0;
}

void MpiTransport::Abandon(RequestId id) { impl_->FreeSlot(id); }

bool MpiTransport::TakeHeader(int* src, std::vector<char>* bytes,
                              std::string* error) {
  int flag = 0;
  MPI_Message message;
  MPI_Status status;
  int rc = MPI_Improbe(MPI_ANY_SOURCE, kHeaderTag, impl_->comm, &flag,
                       &message, &status);
  if (rc != MPI_SUCCESS) {
    *error = MpiErrorString(rc);
    return false;
  }
  if (!flag) return false;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  if (bytes->size() < static_cast<size_t>(count)) bytes->resize(count);
  rc = MPI_Mrecv(bytes->data(), count, MPI_BYTE, &message, &status);
  if (rc != MPI_SUCCESS) {
    *error = MpiErrorString(rc);
    return false;
  }
  bytes->resize(count);
  *src = status.MPI_SOURCE;
  return true;
}

}  // namespace bluefog
