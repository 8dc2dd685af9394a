//! The native Tulip host on mio. Its transports, servers, executor and name resolution land with the host-native issue; this crate holds nothing until then.
