// The Python module `starling` (its C++ half, starling._starling): the
// embedding API (starling/embed.h) for a Python training loop. The Python
// half (python/starling/__init__.py) checks tensors; here: the calls, the
// buffer export held while the peer may write the memory, the GIL released
// while they wait, and Errors turned into Python exceptions
// (docs/embedding.md).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "starling/embed.h"

namespace py = pybind11;
using starling::Error;
using starling::ErrorKind;
using starling::embed::ModelLayout;
using starling::embed::Peer;

namespace {

// The thread Python finalizes on (the main thread, for a script): the only
// one allowed to take the GIL back once finalization began.
unsigned long finalizing_thread = 0;

bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// The GIL released for a blocking call, as py::gil_scoped_release, but safe
// at interpreter exit. Once finalization began, CPython (3.11) ends any other
// thread that takes the GIL back with pthread_exit; the forced unwind through
// pybind11's noexcept ~gil_scoped_release is std::terminate (rc -6,
// pybind/pybind11#2215), e.g. for a daemon thread in status() while the
// script ends. This guard does not take the GIL back then: the thread parks
// for good (the process is exiting; nothing it holds is needed). Should
// finalization begin between the check and the re-acquire, the destructor
// lets the forced unwind through (noexcept(false); nothing else is in flight
// in the regions it guards) and the thread ends as a Python daemon thread
// does. Never used where a C++ exception may be propagating.
class GilRelease {
 public:
  GilRelease() : state_(PyEval_SaveThread()) {}
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;
  ~GilRelease() noexcept(false) {
    if (interpreter_finalizing() && PyThread_get_thread_ident() != finalizing_thread) {
      for (;;) std::this_thread::sleep_for(std::chrono::hours(24));
    }
    PyEval_RestoreThread(state_);
  }

 private:
  PyThreadState* state_;
};

[[noreturn]] void raise(const Error& error) {
  switch (error.kind) {
    case ErrorKind::invalid_argument: throw py::value_error(error.message);
    case ErrorKind::timeout: {
      PyErr_SetString(PyExc_TimeoutError, error.message.c_str());
      throw py::error_already_set();
    }
    case ErrorKind::disconnected: {
      PyErr_SetString(PyExc_ConnectionError, error.message.c_str());
      throw py::error_already_set();
    }
    case ErrorKind::numerical: {  // the parameters hold NaN/Inf: training diverged
      PyErr_SetString(PyExc_FloatingPointError, error.message.c_str());
      throw py::error_already_set();
    }
    case ErrorKind::io:
    case ErrorKind::not_found: {
      PyErr_SetString(PyExc_OSError, error.message.c_str());
      throw py::error_already_set();
    }
    default: throw std::runtime_error(std::string(starling::to_string(error.kind)) + ": " + error.message);
  }
}

void check(const starling::Status& status) {
  if (!status) raise(status.error());
}

ModelLayout layout_of(const std::string& name, const std::vector<std::vector<std::int64_t>>& shapes) {
  return ModelLayout{name, shapes};
}

// A membership-only peer (nothing attached) gets the membership keys only:
// no training key that would always read 0.
py::dict status_dict(const starling::embed::PeerStatus& s) {
  py::dict d;
  d["state"] = s.state;
  d["error"] = s.error;
  d["address"] = s.address;
  d["node_id"] = s.node_id;
  d["joined"] = s.joined;
  d["members"] = s.members;
  d["bytes_sent"] = s.bytes_sent;
  d["bytes_received"] = s.bytes_received;
  d["trains"] = s.trains;
  if (!s.trains) return d;
  d["downloaded"] = s.downloaded;
  d["steps"] = s.steps;
  d["corrections_applied"] = s.corrections_applied;
  d["publishes"] = s.publishes;
  d["publishes_withheld"] = s.publishes_withheld;
  d["recoveries"] = s.recoveries;
  d["buffer_replacements"] = s.buffer_replacements;
  d["rounds"] = s.rounds;
  d["deltas_sent"] = s.deltas_sent;
  d["deltas_received"] = s.deltas_received;
  d["link_resets"] = s.link_resets;
  d["gossip_bytes_sent"] = s.gossip_bytes_sent;
  d["model_bytes_downloaded"] = s.model_bytes_downloaded;
  d["model_bytes_served"] = s.model_bytes_served;
  d["consensus_distance"] = s.consensus_distance ? py::object(py::float_(*s.consensus_distance)) : py::object(py::none());
  d["model_mismatch"] = s.model_mismatch;
  py::list neighbours;
  for (const auto& n : s.neighbours) {
    py::dict nd;
    nd["node_id"] = n.node_id;
    nd["address"] = n.address;
    nd["ready"] = n.ready;
    nd["outbound"] = n.outbound;
    nd["deltas_sent"] = n.deltas_sent;
    nd["deltas_received"] = n.deltas_received;
    nd["resets"] = n.resets;
    neighbours.append(nd);
  }
  d["neighbours"] = neighbours;
  return d;
}

// A writable, C-contiguous float32 buffer (numpy, array.array, ...): the
// buffer export (its pointer and size stay valid, and the exporter refuses a
// resize with BufferError, while it is held), or the Python exception `what`
// names.
py::buffer_info float_buffer(const py::buffer& buffer, const std::string& what) {
  py::buffer_info info;
  try {
    info = buffer.request(true);
  } catch (const std::exception& e) {
    throw py::value_error(what + ": the buffer must be writable: " + e.what());
  }
  // "f", or with a byte-order prefix that means this machine's: ctypes
  // exports '<f' ("<f is not float32" was the message for a float32 array).
  const std::string& format = info.format;
  const bool little = std::endian::native == std::endian::little;
  const bool native_float =
      format == "f" || format == "=f" || format == "@f" || format == (little ? "<f" : ">f");
  if (!native_float || info.itemsize != sizeof(float)) {
    const bool other_order = format == (little ? ">f" : "<f") || format == "!f";
    throw py::type_error(what + ": the buffer must hold float32 values in this machine's byte order, not format '" +
                         format + "'" + (other_order ? " (float32 of the other byte order: byteswap it first)" : ""));
  }
  py::ssize_t expected = info.itemsize;
  for (py::ssize_t dim = info.ndim - 1; dim >= 0; --dim) {
    if (info.shape[std::size_t(dim)] > 1 && info.strides[std::size_t(dim)] != expected)
      throw py::value_error(what + ": the buffer must be contiguous (C order); copy it first");
    expected *= info.shape[std::size_t(dim)];
  }
  return info;
}

// A Status computed with the GIL released, raised with it held.
template <typename F>
void call_released(F&& f) {
  starling::Status status = starling::ok_status();
  {
    GilRelease release;
    status = f();
  }
  check(status);
}

std::size_t local_average_released(Peer& peer, float* out, std::size_t count) {
  starling::Result<std::size_t> averaged = starling::make_error(ErrorKind::timeout, "");
  {
    GilRelease release;
    averaged = peer.local_average(out, count);
  }
  if (!averaged) raise(averaged.error());
  return *averaged;
}

// The Python object: the peer and the export of the buffer attached through
// the buffer protocol. The peer writes into that memory in join(),
// after_step() and recoveries until leave(); holding only the pointer would
// let the owner resize (array.array.extend, bytearray via a released
// memoryview) and free it under the peer. The export is released (with the
// GIL held, as PyBuffer_Release needs) once the peer has left.
struct PyPeer {
  std::unique_ptr<Peer> peer;
  std::unique_ptr<py::buffer_info> attached;  // the held export; null for none or a torch tensor
  bool join_called = false;  // join() went through join_interruptible (after_step joins first otherwise)

  explicit PyPeer(std::unique_ptr<Peer> p) : peer(std::move(p)) {}
  PyPeer(const PyPeer&) = delete;
  PyPeer& operator=(const PyPeer&) = delete;
  ~PyPeer() {
    // Called with the GIL held: the peer leaves (its destructor) first, so
    // the memory is no longer touched when the export goes.
    if (interpreter_finalizing()) {
      peer.reset();  // no other thread may run Python now: nothing to let through
    } else {
      GilRelease release;
      peer.reset();
    }
    attached.reset();
  }

  // After leave(): the buffer is not touched any more.
  void release_buffer() { attached.reset(); }
};

// join() for Python: the C++ join runs on a helper thread while this one
// waits in 50 ms slices with the GIL released, checking for signals between
// them, so Ctrl-C raises KeyboardInterrupt promptly instead of after the
// join timeout (up to hours). On a signal the peer leaves (which makes the
// C++ join return at once: "left while joining") and the exception goes up;
// the peer is then `left`, its data dir free for a new Peer.
void join_interruptible(PyPeer& self, std::uint64_t timeout_ms) {
  Peer& peer = *self.peer;
  self.join_called = true;
  std::promise<starling::Status> result;
  std::future<starling::Status> joined = result.get_future();
  std::thread worker([&peer, &result, timeout_ms] { result.set_value(peer.join(timeout_ms)); });
  for (;;) {
    bool done = false;
    {
      GilRelease release;
      done = joined.wait_for(std::chrono::milliseconds(50)) == std::future_status::ready;
      if (done) worker.join();
    }
    if (done) break;
    if (PyErr_CheckSignals() != 0) {  // KeyboardInterrupt (or a handler's exception) is set
      {
        GilRelease release;
        (void)peer.leave();
        worker.join();
      }
      self.release_buffer();  // left: the buffer is not touched any more
      throw py::error_already_set();
    }
  }
  check(joined.get());
}

}  // namespace

PYBIND11_MODULE(_starling, m) {
  finalizing_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
  m.doc() = "starling's embedding API: a Python training loop joins a starling swarm (docs/embedding.md)";
  m.def("model_id", [](const std::string& name, const std::vector<std::vector<std::int64_t>>& shapes) {
    return layout_of(name, shapes).model_id();
  });

  py::class_<PyPeer>(m, "_Peer")
      .def(py::init([](const std::vector<std::pair<std::string, std::string>>& settings) {
        auto made = Peer::create(settings);
        if (!made) raise(made.error());
        return std::make_unique<PyPeer>(std::move(*made));
      }))
      // numpy and anything with the buffer protocol: float32, C-contiguous,
      // writable. The export is held until leave() (or the object goes).
      .def("_attach_buffer",
           [](PyPeer& self, const py::buffer& buffer, const std::vector<std::vector<std::int64_t>>& shapes,
              const std::string& name) {
             auto info = std::make_unique<py::buffer_info>(float_buffer(buffer, "attach()"));
             check(self.peer->attach(static_cast<float*>(info->ptr), std::size_t(info->size), layout_of(name, shapes)));
             self.attached = std::move(info);
           })
      // torch tensors: the Python side checked dtype, device and contiguity.
      .def("_attach_pointer",
           [](PyPeer& self, std::uintptr_t pointer, std::size_t count, const std::vector<std::vector<std::int64_t>>& shapes,
              const std::string& name) {
             check(self.peer->attach(reinterpret_cast<float*>(pointer), count, layout_of(name, shapes)));
           })
      .def("join", [](PyPeer& self, std::uint64_t timeout_ms) { join_interruptible(self, timeout_ms); },
           py::arg("timeout_ms") = 0)
      // A first after_step() joins: through join_interruptible, so Ctrl-C is
      // not ignored for the whole join timeout (the C++ join ran with the
      // GIL released and no signal check).
      .def("after_step",
           [](PyPeer& self) {
             if (!self.join_called) join_interruptible(self, 0);
             call_released([&] { return self.peer->after_step(); });
           })
      .def("buffer_replacements", [](const PyPeer& self) { return self.peer->buffer_replacements(); })
      .def("status",
           [](PyPeer& self) {
             starling::Result<starling::embed::PeerStatus> s = starling::make_error(ErrorKind::timeout, "");
             {
               GilRelease release;
               s = self.peer->status();
             }
             if (!s) raise(s.error());
             return status_dict(*s);
           })
      // The local average into a float32 buffer (numpy) or a torch tensor's
      // memory (pointer and count checked on the Python side): the neighbour count.
      .def("_local_average_buffer",
           [](PyPeer& self, const py::buffer& out) {
             const py::buffer_info info = float_buffer(out, "local_average()");  // held while written
             return local_average_released(*self.peer, static_cast<float*>(info.ptr), std::size_t(info.size));
           })
      .def("_local_average_pointer",
           [](PyPeer& self, std::uintptr_t pointer, std::size_t count) {
             return local_average_released(*self.peer, reinterpret_cast<float*>(pointer), count);
           })
      .def("leave", [](PyPeer& self) {
        call_released([&] { return self.peer->leave(); });
        self.release_buffer();
      });
}
