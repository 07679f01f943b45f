# Declarations of gateway/core/hotgate.pyx for the compiled listener (gateway/upstream/hotlisten.pyx).

cdef class HotCounters:
    cdef public long long frames_from_client
    cdef public long long frames_from_upstream
    cdef public long long bytes_from_client
    cdef public long long bytes_from_upstream
    cdef public long long audio_in_bytes
    cdef public long long audio_out_bytes
    cdef public long long audio_in_bytes_since_usage
    cdef public long long audio_out_bytes_since_usage
    cdef public double last_activity_at


cdef class HotGate:
    cdef public int client_mask
    cdef public int upstream_mask
    cdef public double rate_window
    cdef public long long rate_count
    cdef public long long max_frames_per_second
    cdef public long long max_message_bytes
    cdef public long long pending_out_bytes
    cdef public double upstream_at
    cdef public long long relayed_alone
    cdef public HotCounters stats
    cdef public object clock
    cdef bint _native_clock

    cdef double now(self) except? -1.0


cdef Py_ssize_t usual_audio(const unsigned char* p, Py_ssize_t n, bint upstream, int* code) noexcept nogil
