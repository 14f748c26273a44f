//! Linux errno names, for `returnstr()` (SystemTap prints `-2 (ENOENT)`).

/// Names of errno 1..=133 (index = errno - 1), as in the kernel's uapi headers; "" where
/// Linux defines no code. The SDKs' `errno_str` tables are generated from these.
pub const NAMES: [&str; 133] = [
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// Kernel-internal codes (`FIRST_INTERNAL`..=530) that kernel functions return and user space
/// never sees.
/// The errno of `INTERNAL[0]`.
pub const FIRST_INTERNAL: i64 = 512;
pub const INTERNAL: [&str; 19] = [
    "ERESTARTSYS",
    "ERESTARTNOINTR",
    "ERESTARTNOHAND",
    "ENOIOCTLCMD",
    "ERESTART_RESTARTBLOCK",
    "EPROBE_DEFER",
    "EOPENSTALE",
    "ENOPARAM",
    "",
    "EBADHANDLE",
    "ENOTSYNC",
    "EBADCOOKIE",
    "ENOTSUPP",
    "ETOOSMALL",
    "ESERVERFAULT",
    "EBADTYPE",
    "EJUKEBOX",
    "EIOCBQUEUED",
    "ERECALLCONFLICT",
];

/// The name of `-v` when `v` is a negated errno the kernel defines, else `None`.
pub fn name_of_negated(v: i64) -> Option<&'static str> {
    let e = v.checked_neg()?;
    let name = match e {
        1..=133 => NAMES[(e - 1) as usize],
        FIRST_INTERNAL..=530 => INTERNAL[(e - FIRST_INTERNAL) as usize],
        _ => return None,
    };
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_codes() {
        assert_eq!(name_of_negated(-1), Some("EPERM"));
        assert_eq!(name_of_negated(-2), Some("ENOENT"));
        assert_eq!(name_of_negated(-11), Some("EAGAIN"));
        assert_eq!(name_of_negated(-22), Some("EINVAL"));
        assert_eq!(name_of_negated(-111), Some("ECONNREFUSED"));
        assert_eq!(name_of_negated(-115), Some("EINPROGRESS"));
        assert_eq!(name_of_negated(-133), Some("EHWPOISON"));
        assert_eq!(name_of_negated(-512), Some("ERESTARTSYS"));
        assert_eq!(name_of_negated(-41), None);
        assert_eq!(name_of_negated(-520), None);
        assert_eq!(name_of_negated(0), None);
        assert_eq!(name_of_negated(16), None);
        assert_eq!(name_of_negated(-4096), None);
        assert_eq!(name_of_negated(i64::MIN), None);
    }
}
