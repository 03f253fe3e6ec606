"""Autograd hooks the optimizers share."""


def grad_ready_hooks(params, callback):
    """Calls callback(param) once the gradient of `param` has been accumulated
    into `param.grad` during backward. Returns (removable handles, objects
    that must stay alive as long as the hooks)."""
    handles, keep = [], []
    for param in params:
        if hasattr(param, "register_post_accumulate_grad_hook"):  # torch >= 2.1
            handles.append(param.register_post_accumulate_grad_hook(callback))
        else:
            # The AccumulateGrad node of a leaf; its hooks run once p.grad is final.
            accumulator = param.expand_as(param).grad_fn.next_functions[0][0]
            handles.append(accumulator.register_hook(
                lambda *_, param=param: callback(param)))
            keep.append(accumulator)
    return handles, keep
