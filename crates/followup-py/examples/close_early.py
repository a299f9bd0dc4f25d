# The tutorial's trap, gone: close() right after map_async, before the callback has issued
# its follow-ups. With multiprocessing.pool.ThreadPool the callback's apply_async raises
# ValueError("Pool not running") and, uncaught, kills the result handler so join() hangs.
# With followup, the callback runs inside the pool, its follow-ups are accepted, and join()
# waits for all of them.
from random import random
from time import sleep
from followup import ThreadPool

def result_callback(result_iterator):
    for i, v in result_iterator:
        if v > 0.5:
            pool.apply_async(task2, args=(i, v))

def task2(identifier, result):
    value = random()
    sleep(value / 10)
    print(f'>>{identifier} with {result}, generated {value}')
    return (identifier, result, value)

def task1(identifier):
    value = random()
    sleep(value / 10)
    print(f'>{identifier} generated {value}')
    return (identifier, value)

if __name__ == '__main__':
    with ThreadPool() as pool:
        pool.map_async(task1, range(10), callback=result_callback)
        pool.close()  # too early for Python's pool
        pool.join()   # waits for the follow-ups too
    print('All done.')
