# SuperFastPython.com
# example of manually issuing follow-up tasks to the thread pool
# (the tutorial's program; the import line is changed to use followup, and the pool is
# built on a Dask client: Client() starts a LocalCluster, or joins $DASK_SCHEDULER_ADDRESS)
from random import random
from time import sleep
from followup import ThreadPool
from dask.distributed import Client

# task executed in a worker thread
def task2(identifier, result):
    # generate a random number
    value = random()
    # block for a moment
    sleep(value)
    # report result
    print(f'>>{identifier} with {result}, generated {value}')
    # return result
    return (identifier, result, value)

# task executed in a worker thread
def task1(identifier):
    # generate a random number
    value = random()
    # block for a moment
    sleep(value)
    # report result
    print(f'>{identifier} generated {value}')
    # return result
    return (identifier, value)

# protect the entry point
if __name__ == '__main__':
    # create and configure the thread pool
    with ThreadPool(client=Client()) as pool:
        # issue tasks to the thread pool and handle results
        for i,v in pool.imap_unordered(task1, range(10)):
            # check result
            if v > 0.5:
                # issue a follow-up task
                _ = pool.apply_async(task2, args=(i, v))
        # close the pool
        pool.close()
        # wait for all issued tasks to complete
        pool.join()
    # all done
    print('All done.')
