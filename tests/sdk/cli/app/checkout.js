// The code whose minified build throws: the test expects this file, this function and
// the `throw` line back from lookout after source maps are applied.
function totalOf(cart) {
  return cart.items.reduce((sum, item) => sum + item.price, 0);
}

function checkout(cart) {
  if (!cart.items || cart.items.length === 0) {
    throw new Error("cart is empty");
  }
  return totalOf(cart);
}

module.exports = { checkout };
