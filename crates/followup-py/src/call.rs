//! Calling user functions the way `multiprocessing.pool` does: `func(*args, **kwds)` for
//! `apply`, `func(item)` for `map`, `func(*item)` for `starmap`. Argument errors surface as
//! the task's exception (raised by `get()`), as in Python, not at submission.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping, PyTuple};

/// A deferred `func(*args, **kwds)`.
pub(crate) struct Call {
    pub(crate) func: Py<PyAny>,
    pub(crate) args: Py<PyAny>,
    pub(crate) kwds: Option<Py<PyAny>>,
}

impl Call {
    pub(crate) fn invoke(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let args = as_tuple(self.args.bind(py))?;
        let kwds = match &self.kwds {
            Some(k) => Some(as_dict(k.bind(py))?),
            None => None,
        };
        self.func
            .bind(py)
            .call(args, kwds.as_ref())
            .map(Bound::unbind)
    }
}

/// `*args`: a tuple as it is, any other iterable unpacked.
pub(crate) fn as_tuple<'py>(args: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
    match args.cast::<PyTuple>() {
        Ok(t) => Ok(t.clone()),
        Err(_) => {
            let items = args.try_iter()?.collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(args.py(), items)
        }
    }
}

/// `**kwds`: a dict as it is, any other mapping copied.
fn as_dict<'py>(kwds: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    match kwds.cast::<PyDict>() {
        Ok(d) => Ok(d.clone()),
        Err(_) => {
            let d = PyDict::new(kwds.py());
            d.update(kwds.cast::<PyMapping>()?)?;
            Ok(d)
        }
    }
}

/// One item of a `map` (`func(item)`) or `starmap` (`func(*item)`).
pub(crate) fn call_item(
    py: Python<'_>,
    func: &Bound<'_, PyAny>,
    item: Py<PyAny>,
    star: bool,
) -> PyResult<Py<PyAny>> {
    let item = item.into_bound(py);
    let r = if star {
        func.call1(as_tuple(&item)?)
    } else {
        func.call1((item,))
    };
    r.map(Bound::unbind)
}
