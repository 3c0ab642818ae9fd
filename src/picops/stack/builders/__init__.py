"""One small builder per part of the stack; `picops.stack.build.build_model` composes them.

Each builder is a function `build(ctx) -> list[Resource]` over the shared `BuildContext`; a resource
appears in exactly one builder. Order inside the model does not matter (`StackModel.ordered()` sorts by
dependency), so a builder only lists what it owns.
"""
